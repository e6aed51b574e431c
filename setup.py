"""Package discovery for the mapped folders (see [tool.setuptools] in pyproject.toml)."""

from setuptools import find_packages, setup


def mapped(folder: str, package: str) -> list[str]:
    return [package] + [f"{package}.{name}" for name in find_packages(folder)]


setup(
    packages=find_packages(include=["pmsbridge", "pmsbridge.*"])
    + mapped("adapters", "pmsbridge.adapters")
    + mapped("migrations", "pmsbridge.migrations"),
)
