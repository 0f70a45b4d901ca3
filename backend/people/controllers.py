PEOPLE_CONTROLLERS: list[type] = []
