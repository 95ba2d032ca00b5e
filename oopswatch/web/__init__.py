"""`oopswatch serve`: a read-only dashboard over a report index (a SQLite file or a lab's
PostgreSQL database): problems with filters, a problem's reports, a report's decoded
text and console excerpt, and the boards racks publish. Starlette and Jinja2 templates
(every string from a console is escaped by the templates), served by uvicorn; pages
refresh themselves with a meta tag: no JavaScript at all.

    app.py      the routes: what each page asks the index and which template shows it
    files.py    which files of the output directory may be served (never one outside it)
    display.py  how times, ages and states read on a page
    server.py   the HTTP server (--bind) around the app
"""
