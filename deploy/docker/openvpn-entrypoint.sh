#!/bin/sh
# Starts the compose file's OpenVPN server: a PKI on first start, then OpenVPN
# with its management interface on the unix socket the agent is pointed at.
#   OPENVPN_SERVER_NAME  the server certificate's CN (default vpn.example)
#   OPENVPN_NETWORK      the tunnel network (default 10.8.0.0 255.255.255.0)
set -eu

pki=/etc/openvpn/pki
name=${OPENVPN_SERVER_NAME:-vpn.example}
if [ ! -s "$pki/server.crt" ]; then
  umask 077
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key"
  openssl req -x509 -new -key "$pki/ca.key" -sha256 -days 3650 -subj "/CN=warden-compose-ca" \
    -out "$pki/ca.crt"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/server.key"
  openssl req -new -key "$pki/server.key" -subj "/CN=$name" -out "$pki/server.csr"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth\n' \
    >"$pki/server.ext"
  openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial 1 \
    -days 825 -sha256 -extfile "$pki/server.ext" -out "$pki/server.crt"
  chmod 0644 "$pki/ca.crt"
  echo "openvpn-entrypoint: new PKI in $pki (clients need ca.crt)"
fi

mkdir -p /run/openvpn
rm -f /run/openvpn/server.sock  # left behind by a killed server
# shellcheck disable=SC2086  # OPENVPN_NETWORK is two words on purpose
exec openvpn --dev tun --proto udp4 --port 1194 \
  --server ${OPENVPN_NETWORK:-10.8.0.0 255.255.255.0} --topology subnet \
  --keepalive 10 60 \
  --ca "$pki/ca.crt" --cert "$pki/server.crt" --key "$pki/server.key" --dh none \
  --verify-client-cert none --username-as-common-name --duplicate-cn \
  --management /run/openvpn/server.sock unix --management-client-auth --management-hold \
  --explicit-exit-notify 1 --verb 3 "$@"
