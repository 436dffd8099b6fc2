#include <iostream>

int main() {
    int n = 6;
    int steps = 0;
    std::cout << "Collatz sequence for " << n << ":";
    while (true) {
        std::cout << " " << n;
        if (n == 1) {
            break;
        }
        if (n % 2 == 0) {
            n = n / 2;
        } else {
            n = 3 * n + 1;
        }
        ++steps;
    }
    std::cout << std::endl;
    std::cout << "Steps: " << steps << std::endl;
    return 0;
}
