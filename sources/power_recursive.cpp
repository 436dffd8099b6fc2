#include <iostream>

long long power(long long base, int exponent) {
    if (exponent == 0) {
        return 1;
    }
    long long half = power(base, exponent / 2);
    if (exponent % 2 == 0) {
        return half * half;
    }
    return half * half * base;
}

int main() {
    std::cout << "2^10 = " << power(2, 10) << std::endl;
    std::cout << "3^5 = " << power(3, 5) << std::endl;
    std::cout << "5^0 = " << power(5, 0) << std::endl;
    std::cout << "7^3 = " << power(7, 3) << std::endl;
    std::cout << "2^40 = " << power(2, 40) << std::endl;
    return 0;
}
