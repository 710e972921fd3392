"""The web application: OGC API endpoints, HTML pages and static assets."""
