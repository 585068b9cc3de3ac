"""Files the bot sends: the spending chart (PNG), exports (CSV, PDF) and the copy of my data (PDF, JSON).

Like the views, these are pure renders of plain data (bot.domain.records) in the user's language;
they return bytes and never touch Telegram or the database. They are CPU work (matplotlib, fpdf2),
so handlers run them off the event loop (`asyncio.to_thread`).
"""
