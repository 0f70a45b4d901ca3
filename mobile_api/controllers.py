MOBILE_CONTROLLERS: list[type] = []
