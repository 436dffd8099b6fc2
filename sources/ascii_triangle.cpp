#include <iostream>

int main() {
    const int rows = 5;
    for (int row = 1; row <= rows; ++row) {
        for (int space = 0; space < rows - row; ++space) {
            std::cout << ' ';
        }
        for (int star = 0; star < 2 * row - 1; ++star) {
            std::cout << '*';
        }
        std::cout << '\n';
    }
    return 0;
}
