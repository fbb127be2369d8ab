#!/bin/sh
# The compose stack's one-shot init (compose.yaml, service init). Idempotent.
set -eu
MOSQUITTO_UID=1883  # the eclipse-mosquitto image's user

# Broker certificates, made once: a CA (give ca.crt to the clients) and a server certificate
# for the names in BROKER_NAMES.
if [ ! -s /certs/server.crt ]; then
  cd /certs
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -keyout ca.key -out ca.crt -subj "/CN=hazard-gateway broker CA"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout server.key -out server.csr -subj "/CN=${BROKER_NAMES%%,*}"
  san=$(echo "$BROKER_NAMES" | sed 's/\([^,]*\)/DNS:\1/g')
  echo "subjectAltName=$san" > san.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile san.ext -out server.crt
  rm -f server.csr san.ext
  chown "$MOSQUITTO_UID" server.key && chmod 0600 server.key ca.key
fi

# Password file, rebuilt every start from .env (change a password there and restart).
new=/auth/passwd.new
: > "$new"
mosquitto_passwd -b "$new" hazgw "$HAZGW_MQTT_PASSWORD"
mosquitto_passwd -b "$new" zigbee2mqtt "$ZIGBEE2MQTT_MQTT_PASSWORD"
chown "$MOSQUITTO_UID" "$new" && chmod 0600 "$new" && mv "$new" /auth/passwd

# The gateway's config with the InfluxDB token (the template has @HAZGW_INFLUX_TOKEN@).
sed "s|@HAZGW_INFLUX_TOKEN@|$HAZGW_INFLUX_TOKEN|" /templates/config.yaml > /gateway-config/config.yaml
chmod 0644 /gateway-config/config.yaml
echo "init done"
