"""Telegram update handlers, one module per feature; `handlers.registry` wires them (this package
file stays empty, so importing one handler never imports them all)."""
