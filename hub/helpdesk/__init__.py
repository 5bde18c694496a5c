"""The helpdesk: routing incidents to the right ticketing (seed 001), and keeping ticket requests until sent.

`routing` holds the rules (pure), `zones` the département's zones file, `desk` the requests
(kept in table ``ticket_request`` and retried until the helpdesk takes them), `watch` the
hub's own incidents (dead letters, sync runs held by the safety checks) turned into tickets,
one per cause, and `web` the staff's form (behind the SSO broker). Helpdesk plugins
(``plugins/glpi``) implement the hooks of the ``--- helpdesk ---`` section of `hub.hookspecs`.
"""
