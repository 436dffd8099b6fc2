#include <iostream>
#include <stdexcept>

int divide(int a, int b) {
    if (b == 0) {
        throw std::runtime_error("Division by zero");
    }
    return a / b;
}

int main() {
    const int pairs[3][2] = {{10, 2}, {7, 0}, {9, 3}};
    for (const auto& pair : pairs) {
        try {
            int result = divide(pair[0], pair[1]);
            std::cout << pair[0] << " / " << pair[1] << " = " << result << std::endl;
        } catch (const std::runtime_error& error) {
            std::cout << "Error: " << error.what() << std::endl;
        }
    }
    std::cout << "Done" << std::endl;
    return 0;
}
