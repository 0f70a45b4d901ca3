CASE_CONTROLLERS: list[type] = []
