"""MQTT ingest: one broker session per driver, a pure decoder per payload family.

Families: zigbee2mqtt, tasmota, esphome, homie (5), shelly (Gas, Smoke), json (a path per
field). `config.MqttDriverConfig` holds the options (importing it does not load the MQTT
client); `driver.MqttDriver` is the driver and documents the status it reports.
"""
