"""xsell deploy layer: delivery only: the online API (deploy/api/) and team-mode services (deploy/team/)."""
