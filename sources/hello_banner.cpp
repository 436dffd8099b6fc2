#include <iostream>

int main() {
    std::cout << "+--------------+" << std::endl;
    std::cout << "| Hello, World |" << std::endl;
    std::cout << "+--------------+" << std::endl;
    std::cout << std::endl;
    std::cout << "This text was printed line by line." << std::endl;
    return 0;
}
