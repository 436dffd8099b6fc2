#include <iostream>

void factorize(int n) {
    std::cout << n << " =";
    int remaining = n;
    bool first = true;
    for (int d = 2; d * d <= remaining; ++d) {
        while (remaining % d == 0) {
            std::cout << (first ? " " : " * ") << d;
            first = false;
            remaining /= d;
        }
    }
    if (remaining > 1) {
        std::cout << (first ? " " : " * ") << remaining;
    }
    std::cout << std::endl;
}

int main() {
    const int numbers[] = {360, 97, 1001, 1024};
    for (int n : numbers) {
        factorize(n);
    }
    return 0;
}
