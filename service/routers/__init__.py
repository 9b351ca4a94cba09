"""One small APIRouter per capability; ``service.app.create_app`` only includes them.

What a route needs beyond its request (the loaded index, settings, metrics, the encoder's batcher)
it reads from ``request.app.state``, which the app factory fills."""
