#include <iostream>

template <typename T, int N>
T sumArray(const T (&values)[N]) {
    T total = T();
    for (int i = 0; i < N; ++i) {
        total += values[i];
    }
    return total;
}

template <typename T, int N>
int lengthOf(const T (&)[N]) {
    return N;
}

int main() {
    const int small[] = {1, 2, 3, 4, 5};
    const long long big[] = {1000000000000LL, 2000000000000LL, 3000000000000LL};
    const short tiny[] = {7, 8};
    std::cout << "int array of " << lengthOf(small) << ": " << sumArray(small) << std::endl;
    std::cout << "long long array of " << lengthOf(big) << ": " << sumArray(big) << std::endl;
    std::cout << "short array of " << lengthOf(tiny) << ": " << sumArray(tiny) << std::endl;
    return 0;
}
