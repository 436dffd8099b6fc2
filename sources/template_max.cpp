#include <iostream>
#include <string>

template <typename T>
T maxOf(const T& a, const T& b) {
    return a < b ? b : a;
}

template <typename T>
void showMax(const T& a, const T& b) {
    std::cout << "max(" << a << ", " << b << ") = " << maxOf(a, b) << std::endl;
}

int main() {
    showMax(3, 7);
    showMax(-2, -8);
    showMax('a', 'z');
    showMax(std::string("apple"), std::string("banana"));
    return 0;
}
