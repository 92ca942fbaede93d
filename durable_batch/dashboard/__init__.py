"""The web dashboard, served by the app itself: static files (`static/`) and the route that serves them."""
