#include <iostream>

int main() {
    const int size = 5;
    for (int i = 1; i <= size; ++i) {
        for (int j = 1; j <= size; ++j) {
            if (j > 1) {
                std::cout << ' ';
            }
            std::cout << i * j;
        }
        std::cout << '\n';
    }
    return 0;
}
