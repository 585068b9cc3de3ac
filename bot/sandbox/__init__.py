"""Local Telegram Bot API stand-in (tests and ``swbot sandbox``).

core.py BotApiCore (state, validation, updates) · request.py InProcessRequest (PTB BaseRequest) ·
server.py aiohttp app / SandboxServer · client.py SandboxClient (one user) · load.py many simulated
users (load and fault runs) · soak.py a soak run of `swbot run` · spec.py + botapi_methods.json
(the Bot API's signatures; regenerate with make_spec.py). Nothing is imported here, so importing the
package stays cheap.
"""
