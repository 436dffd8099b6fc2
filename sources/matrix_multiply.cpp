#include <iostream>

int main() {
    const int a[2][3] = {{1, 2, 3}, {4, 5, 6}};
    const int b[3][2] = {{7, 8}, {9, 10}, {11, 12}};
    int c[2][2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 2; ++j) {
            for (int k = 0; k < 3; ++k) {
                c[i][j] += a[i][k] * b[k][j];
            }
        }
    }
    std::cout << "Result:" << std::endl;
    for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 2; ++j) {
            std::cout << (j == 0 ? "" : " ") << c[i][j];
        }
        std::cout << std::endl;
    }
    return 0;
}
