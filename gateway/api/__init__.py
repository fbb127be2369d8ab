"""The daemon's HTTP API: health, metrics, alarms, sensors and the hazard ledger (issue 7)."""
