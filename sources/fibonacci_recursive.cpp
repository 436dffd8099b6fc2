#include <iostream>

int fibonacci(int n) {
    if (n < 2) {
        return n;
    }
    return fibonacci(n - 1) + fibonacci(n - 2);
}

int main() {
    const int count = 15;
    std::cout << "First " << count << " Fibonacci numbers:";
    for (int i = 0; i < count; ++i) {
        std::cout << " " << fibonacci(i);
    }
    std::cout << std::endl;
    return 0;
}
