"""People's ledger actions over MQTT (issue 6): a person publishes a JSON command on its own
command topic, the broker's password file and ACL make the topic's last segment an authenticated
identity, and the gateway runs the action attributed to that person.

config.py holds the `commands:` section only (gateway/config.py imports it); service.py imports
gateway.app, so import it where the Gateway already exists.
"""
