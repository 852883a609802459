"""The baseline every mock benchmark is divided by: a bare Starlette "hello" on uvicorn."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"hello": "world"})


app = Starlette(routes=[Route("/", hello)])


if __name__ == "__main__":
    # Serve on an inherited socket exactly like the mocks do (python -m mocks serve --fd).
    import socket
    import sys

    import uvicorn

    fd = int(sys.argv[sys.argv.index("--fd") + 1])
    config = uvicorn.Config(app, loop="uvloop", http="httptools", access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])
