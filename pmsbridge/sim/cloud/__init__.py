"""What the cloud PMS simulators (Mews, Apaleo, Cloudbeds) share: hotel, front desk, server, webhooks."""
