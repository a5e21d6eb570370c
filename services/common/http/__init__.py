"""The one HTTP edge every service shares, without a web framework (nameko stays outside).

Public API: `Request`/`Response` (request.py), `Route`/`Api`/`Param`/`Component`
(routes.py), `Site` and `serve` (edge.py), `refusal`/`from_error`/`operation_outcome`
(errors.py), strict bodies and parameters (body.py), and `document` (openapi.py).
services/common/nameko_ext/http_api.py plugs it into nameko's `@http` entrypoints.
"""
