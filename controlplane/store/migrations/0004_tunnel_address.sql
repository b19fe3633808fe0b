-- Where a client sits inside the tunnel (an OpenVPN pool address, a
-- WireGuard allowed IP), as its node reports it once the tunnel is up.
ALTER TABLE sessions ADD COLUMN tunnel_address text NOT NULL DEFAULT '';
