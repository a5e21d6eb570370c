"""The nameko/eventlet edge: the only place outside service.py files allowed to import them.

psycopg 3 blocks eventlet's hub unless it waits with select(); the variable must be set
before psycopg is first imported, which the edge guarantees by being imported first.
"""

import os

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
