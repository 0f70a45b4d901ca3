from litestar import Controller


class AuditController(Controller):
    path = "/audit"
