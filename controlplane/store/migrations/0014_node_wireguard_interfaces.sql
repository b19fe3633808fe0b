-- The WireGuard interfaces each node's agent reports when it attaches:
-- [{"interface", "public_key", "endpoint", "listen_port"}]. Users' devices
-- need a node's public key and endpoint to reach it (AccountService builds
-- their peer configurations from this); the private key never leaves the node.
ALTER TABLE nodes ADD COLUMN wireguard_interfaces jsonb NOT NULL DEFAULT '[]';
