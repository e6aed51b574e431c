"""``pmsbridge pms status``: prove each cloud PMS adapter's credentials and property id against its API.

For every enabled cloud adapter of the configuration (Mews, Apaleo, Cloudbeds) one cheap read
that needs the credentials and names the property; also the webhook URL path to give the PMS.
Exit status 1 when one of them fails (the sentence says which and why), 0 otherwise.
"""

from __future__ import annotations

import sys

from pmsbridge.adapters.cloud.adapter import CloudAdapter
from pmsbridge.adapters.cloud.errors import PmsApiError
from pmsbridge.config import Settings, registered_adapters

EXIT_OK, EXIT_FAILURE = 0, 1


def cloud_adapters(settings: Settings) -> dict[str, tuple[type[CloudAdapter], object]]:
    """The enabled cloud adapters of ``settings``: name -> (class, validated section)."""
    known = registered_adapters()
    found = {}
    for name, config in settings.adapter_settings.items():
        if not getattr(config, "enabled", True) or name not in known:
            continue
        adapter = known[name].load()
        if isinstance(adapter, type) and issubclass(adapter, CloudAdapter):
            found[name] = (adapter, config)
    return found


def print_status(settings: Settings) -> int:
    adapters = cloud_adapters(settings)
    if not adapters:
        print("pmsbridge: no cloud PMS adapter (mews, apaleo, cloudbeds) is configured and enabled", file=sys.stderr)
        return EXIT_FAILURE
    failed = False
    for name, (adapter, config) in sorted(adapters.items()):
        client = adapter.open_client(config, settings)
        try:
            print(f"{name}: {client.describe()}")
        except PmsApiError as err:
            print(f"pmsbridge: {name}: {err}", file=sys.stderr)
            failed = True
            continue
        finally:
            client.session.close()
        print(f"  API: {config.api_url}")
        print(f"  webhook: {'/pms/' + name + '/<token>' if config.webhook_tokens else 'none (poll only)'}; "
              f"poll every {config.poll_interval_seconds:g} s")
        unavailable = client.posting_unavailable() if config.posting else "posting = false"
        print(f"  postings: {'sent to the folio' if unavailable is None else 'not sent: ' + unavailable}")
    return EXIT_FAILURE if failed else EXIT_OK
