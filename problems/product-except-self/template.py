def product_except_self(nums):
    pass
