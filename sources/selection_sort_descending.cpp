#include <iostream>

int main() {
    int numbers[6] = {5, 17, 3, 42, 8, 23};
    const int n = 6;
    for (int i = 0; i < n - 1; ++i) {
        int best = i;
        for (int j = i + 1; j < n; ++j) {
            if (numbers[j] > numbers[best]) {
                best = j;
            }
        }
        if (best != i) {
            int temp = numbers[i];
            numbers[i] = numbers[best];
            numbers[best] = temp;
        }
    }
    for (int i = 0; i < n; ++i) {
        std::cout << numbers[i];
        if (i + 1 < n) {
            std::cout << " ";
        }
    }
    std::cout << std::endl;
    return 0;
}
