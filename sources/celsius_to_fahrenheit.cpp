#include <iostream>

int toFahrenheit(int celsius) {
    return celsius * 9 / 5 + 32;
}

int main() {
    std::cout << "Celsius -> Fahrenheit" << std::endl;
    for (int c = 0; c <= 100; c += 20) {
        std::cout << c << " C = " << toFahrenheit(c) << " F" << std::endl;
    }
    return 0;
}
