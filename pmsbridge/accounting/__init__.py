"""Call accounting: the PBX's call records read and rated, charges posted to the PMS, wake-up outcomes."""
