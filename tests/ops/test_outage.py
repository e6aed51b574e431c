"""A long PBX outage during a stream of events (bench.outage, with a one-minute outage here).

With the default settings, /healthz turns 503 within 60 s of the PBX becoming unreachable and
200 within 10 s of its return, and deliveries resume within 10 s of it, however far the
backoff of the deliveries had grown; every room ends as desired.
"""

from bench.outage import ROOMS, measure_outage


def test_after_a_long_outage_deliveries_resume_within_seconds_and_health_follows(tmp_path):
    figures = measure_outage(tmp_path, outage=75.0)
    assert figures.unhealthy_after <= 60
    assert figures.healthy_after <= 10
    assert figures.resumed_after <= 10
    assert figures.events > 0 and figures.rooms_right == len(ROOMS)
