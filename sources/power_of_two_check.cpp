#include <iostream>

bool isPowerOfTwo(unsigned int n) {
    return n != 0 && (n & (n - 1)) == 0;
}

unsigned int nextPowerOfTwo(unsigned int n) {
    unsigned int p = 1;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

int main() {
    const unsigned int tests[] = {1, 6, 16, 31, 64, 100};
    for (unsigned int n : tests) {
        std::cout << n << ": ";
        if (isPowerOfTwo(n)) {
            std::cout << "power of two";
        } else {
            std::cout << "not a power of two, next is " << nextPowerOfTwo(n);
        }
        std::cout << std::endl;
    }
    return 0;
}
