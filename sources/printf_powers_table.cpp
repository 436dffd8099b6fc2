#include <cstdio>

int square(int n) {
    return n * n;
}

int cube(int n) {
    return n * n * n;
}

int main() {
    std::printf("%2s %4s %5s\n", "n", "n^2", "n^3");
    for (int n = 1; n <= 6; ++n) {
        std::printf("%2d %4d %5d\n", n, square(n), cube(n));
    }
    return 0;
}
