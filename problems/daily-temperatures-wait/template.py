def days_until_warmer(temps):
    pass
