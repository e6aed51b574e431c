"""Package discovery for the mapped folders (see [tool.setuptools] in pyproject.toml).

Namespace discovery, so that the folders holding data rather than modules (the web
interface's templates and static files, the migration scripts) are packages too and
their files are shipped as those packages' data (setuptools warns about, and will one day
drop, data folders that are importable but not listed).
"""

import warnings

from setuptools import find_namespace_packages, setup
from setuptools.warnings import InformationOnly

# The mapped folders make an editable install use an import hook, and setuptools then notes
# at every install that a folder named like the package in the working directory may be
# imported instead. Here that folder is the package itself: nothing to act on.
warnings.filterwarnings("ignore", message="Editable installation", category=InformationOnly)

NOT_PACKAGES = ["*__pycache__", "*__pycache__.*"]


def mapped(folder: str, package: str) -> list[str]:
    return [package] + [f"{package}.{name}" for name in find_namespace_packages(folder, exclude=NOT_PACKAGES)]


setup(
    packages=find_namespace_packages(include=["pmsbridge", "pmsbridge.*"], exclude=NOT_PACKAGES)
    + mapped("adapters", "pmsbridge.adapters")
    + mapped("migrations", "pmsbridge.migrations"),
)
