[alcoves]
title="Alcoves"
desc="Alcoves media library (web UI and API)"
port_forward="yes"
dst.ports="3001/tcp"
