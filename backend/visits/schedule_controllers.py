SCHEDULE_CONTROLLERS: list[type] = []
