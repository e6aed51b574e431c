"""The Postings page names a cloud PMS link that books no charges, and why."""

from __future__ import annotations

from pmsbridge.sim.mews import MewsOptions, MewsSimulator
from pmsbridge.users import UserStore
from pmsbridge.web import create_app
from tests.accounting.conftest import certificate_dir, emulator, services, settings_for  # noqa: F401 - fixtures
from tests.adapters.cloud.conftest import mews_section
from tests.web.conftest import FRONTDESK, FRONTDESK_PASSWORD, login


def test_a_mews_link_without_a_posting_service_is_named_on_the_postings_page(emulator, services, engine):
    UserStore(engine).add(FRONTDESK, "frontdesk", FRONTDESK_PASSWORD)
    with MewsSimulator(MewsOptions(seed=1)) as sim:
        section = {key: value for key, value in mews_section(sim).items() if key != "posting_service_id"}
        service = services.start(settings_for(emulator, sections=services.sections(),
                                              adapters={"mews": section}))
        assert service.adapters["mews"].posting_channels() == frozenset()
        app = create_app(service.settings, service)
        client = app.test_client()
        assert login(client, FRONTDESK).status_code == 302
        page = client.get("/postings").get_data(as_text=True)
        assert "The mews link books no charges on the folio" in page
        assert "set posting_service_id in [adapters.mews]" in page
        services.stop(service)
