#include <iostream>

int add(int x, int y) {
    return x + y;
}

int main() {
    int a = 8;
    int b = 120;
    std::cout << "The sum of " << a << " and " << b << " is: " << add(a, b) << std::endl;
    return 0;
}
