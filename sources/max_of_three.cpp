#include <iostream>

int maxOfTwo(int a, int b) {
    return a > b ? a : b;
}

int maxOfThree(int a, int b, int c) {
    return maxOfTwo(maxOfTwo(a, b), c);
}

void report(int a, int b, int c) {
    std::cout << "max(" << a << ", " << b << ", " << c << ") = "
              << maxOfThree(a, b, c) << std::endl;
}

int main() {
    report(3, 7, 5);
    report(10, 2, 8);
    report(-4, -9, -1);
    return 0;
}
