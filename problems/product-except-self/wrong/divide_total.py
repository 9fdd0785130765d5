# Multiplies everything once and divides by each factor: ZeroDivisionError
# as soon as a factor is 0.
def product_except_self(nums):
    total = 1
    for x in nums:
        total *= x
    return [total // x for x in nums]
